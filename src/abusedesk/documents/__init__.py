"""Writing `insights.document.Document` as Markdown and PDF (fpdf2, charts drawn natively)."""
