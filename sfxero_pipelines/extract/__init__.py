"""Extract machinery shared by the Salesforce and Xero assets: read windows, cursors, typed rows,
and the streaming staging writer. Pure logic over SQLAlchemy; no API client lives here."""
