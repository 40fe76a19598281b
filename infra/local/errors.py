class StackError(Exception):
    """A stack service could not be prepared or started; names the service."""

    def __init__(self, service: str, message: str, log_tail: str | None = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.log_tail = log_tail
