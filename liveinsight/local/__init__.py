"""The local stack: the HTTP gateway and stream poller driving the Lambda handler, the embedded store, demo traffic, import.

Never shipped in the Lambda zip; the backend never imports it.
"""
