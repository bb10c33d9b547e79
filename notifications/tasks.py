from __future__ import annotations

from notifications import services
from shop.contracts.notifications import SendEmail
from shop.messaging.envelope import Envelope
from shop.messaging.worker import command_handler


@command_handler("email.send", service="notifications")
def send(envelope: Envelope, command: SendEmail) -> dict[str, str]:
    services.send_order_email(to=command.to, template=command.template, data=command.data)
    return {"emailed": command.to, "template": command.template}
