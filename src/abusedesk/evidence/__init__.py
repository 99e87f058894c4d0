"""Evidence as analysts read it: raw reports made safe to show, in plain Python."""
