"""The receiving end of the real-time lane: webhook endpoints that record events in `webhook_inbox`."""
