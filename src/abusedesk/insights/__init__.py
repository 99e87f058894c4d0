"""Insights for leads: analyst metrics and utilisation, QA, trend reports, incident reviews.

Plain Python: figures are computed here from rows storage reads; pages, PDFs and the SQL
console live at the edges.
"""
