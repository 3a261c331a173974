"""Salesforce: authentication, the API client, describe and the writers transport."""
