class OrderError(Exception):
    """An order request the service refuses. ``field`` names the input at fault (API 4xx)."""

    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class OrderNotFound(OrderError):
    status = 404


class InvalidTransition(OrderError):
    status = 409
