"""The validate stage: ingested tables -> accepted and quarantined tables, with a report."""
