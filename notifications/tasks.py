from __future__ import annotations

from contracts.notifications import SendEmail
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import command_handler
from notifications import services


@command_handler("email.send", service="notifications")
def send(envelope: Envelope, command: SendEmail) -> dict[str, str]:
    services.send_order_email(to=command.to, template=command.template, data=command.data)
    return {"emailed": command.to, "template": command.template}
