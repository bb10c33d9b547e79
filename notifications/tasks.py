from __future__ import annotations

from contracts.notifications import SendEmail
from messaging.celery_adapter.worker import command_handler
from messaging.kernel.envelope import Envelope
from notifications import services


@command_handler("email.send", service="notifications")
def send(envelope: Envelope, command: SendEmail) -> dict[str, str]:
    services.send_order_email(to=command.to, template=command.template, data=command.data)
    return {"emailed": command.to, "template": command.template}
