"""Emulated Salesforce org and Xero organisation, served over HTTPS on loopback.

The emulators speak the real wire protocols so that unmodified simple-salesforce and xero-python
work against them. `sfxero sandbox` runs both; `SandboxServer` does the same inside a test process.
"""
