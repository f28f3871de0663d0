"""The last check before a request leaves: consent and quiet hours when a message's turn comes.

A batch is claimed at once but drains at the channel's rate: at 1 SMS/s a batch claimed at
20:59 is still sending after 21:00, and a STOP can be recorded while it drains. So when the rate
limiter lets a message go, the dispatcher hands it here before the request leaves, and in one
transaction with the "sending" mark:

* the customer's state on the channel is read again: opted out, invalid or unreachable ->
  ``skipped`` (reason in ``last_error``, attempt logged as ``skipped``), whatever the message;
* quiet hours are checked in the customer's time zone at the moment the turn came: inside ->
  ``pending`` again, due at the window's end, the attempt not counted. Urgent rows (confirmations
  of the customer's own choice) are exempt, as at claim time;
* only the rest are marked ``sending``.

Cost: one ``UPDATE ... RETURNING`` (the "sending" mark the dispatcher always made) and one
``SELECT`` of customers by primary key per group commit, not per message. Because the check and
the mark commit together, a crash after it leaves the row ``sending`` (-> ``unknown``,
reconciled, never resent blindly) and a crash before it leaves the row ``claimed`` (-> back to
``pending``, checked again at its next turn): the at-most-once rules of ``messaging.outbox``
are unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from messaging import outbox
from messaging.quiet_hours import QuietHours
from store.models import ReachState

Verdict = Literal["send", "skipped", "deferred", "taken_over"]


@dataclass(eq=False, slots=True)
class Turn:
    """A claimed message whose rate-limit turn came ``at``; ``verdict`` is set by the check.

    Compared by identity: the group commit looks items up, and ``Claimed`` holds lists.
    """

    claimed: outbox.Claimed
    at: dt.datetime
    verdict: Verdict = "send"


def check_and_mark(
    session: Session, turns: Sequence[Turn], worker: str, quiet_hours: QuietHours
) -> None:
    """Set each turn's verdict and write it: ``sending``, ``skipped`` or ``pending`` (deferred).

    A row this worker no longer holds (its lease lapsed, another worker took it) is
    ``taken_over`` and left alone: sending it would deliver it twice.
    """
    if not turns:
        return
    held = outbox.mark_sending(session, [t.claimed.id for t in turns], worker)
    # The rows are ours and locked until commit: reverting some of them from "sending" below
    # needs no further guard, and nobody ever sees them "sending".
    people = outbox.reach(session, {t.claimed.customer_id for t in turns if t.claimed.id in held})
    skipped: list[dict[str, Any]] = []
    deferred: list[dict[str, Any]] = []
    for turn in turns:
        message = turn.claimed
        if message.id not in held:
            turn.verdict = "taken_over"
            continue
        states, timezone = people.get(message.customer_id, outbox.NOT_A_CUSTOMER)
        state = states[message.channel]
        later = None if message.urgent else quiet_hours.next_allowed(turn.at, timezone)
        if state != ReachState.ACTIVE:
            turn.verdict = "skipped"
            skipped.append(
                {"b_id": message.id, "b_attempt": message.attempt, "b_reason": state.value}
            )
        elif later is not None:
            turn.verdict = "deferred"
            deferred.append({"b_id": message.id, "b_due": later})
    finished_at = max(t.at for t in turns)
    outbox.finish_skipped(session, skipped, worker, finished_at)
    outbox.defer(session, deferred)
