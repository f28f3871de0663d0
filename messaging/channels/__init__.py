"""One module per delivery channel, behind the tiny :class:`Channel` contract.

Nothing outside this package sees ``telegram.error.*`` or twilio exceptions: every channel
raises :class:`SendError`. Channel modules never touch the database; the dispatcher records
every attempt. The provider modules are imported lazily by their users, so importing this
package does not pull in python-telegram-bot or twilio.
"""

from messaging.channels.base import Channel, SendError
from messaging.channels.sandbox import SandboxChannel, SandboxRecord, read_sandbox_log

__all__ = ["Channel", "SandboxChannel", "SandboxRecord", "SendError", "read_sandbox_log"]
