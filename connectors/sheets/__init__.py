"""Google Sheets: the PMO register, RAID log, status reports, approvals and training roster, read with gspread."""
