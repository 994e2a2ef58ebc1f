"""The two ways handling an event fails, which the platforms treat differently."""


class InvalidEvent(ValueError):
    """The event breaks the contract: retrying cannot help (Cloud Run: 400; Lambda: the record
    fails and goes to the dead-letter queue once its receive count is spent)."""


class RetryLater(RuntimeError):
    """A transient failure (the SMTP server is down, the customer is not in the directory yet,
    another instance is sending this event now): the platform should deliver the event again."""
