"""Report renderers: HTML, CSV, JSON, XLSX and Markdown from one run's results."""
