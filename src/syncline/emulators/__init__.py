"""Local stand-ins for the services Syncline writes to, for tests and ``syncline demo``.

Each one is a real HTTP server on 127.0.0.1 (random port) with its state in memory and
faults on demand: ``receiver.WebhookReceiver`` for the webhook destination, and emulators of
the SaaS APIs the other destinations are written against.
"""
