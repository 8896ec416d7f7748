"""pmo-hub: keeps a PMO's governance in step with Jira, Google Sheets and Microsoft 365."""

__version__ = "0.1.0"
