"""How the dashboard names each reason an inbox item needs a person."""

from store.tables_inbox import InboxKind

KIND_LABELS = {
    InboxKind.HUMAN_REQUESTED: "asked for a person",
    InboxKind.HANDED_OFF: "waiting for a person",
    InboxKind.NOT_UNDERSTOOD: "not understood",
    InboxKind.DELIVERY_FAILED: "delivery failed",
    InboxKind.DELIVERY_UNKNOWN: "delivery unknown",
    InboxKind.GIVEN_UP: "could not be handled",
    InboxKind.LINK_FAILED: "link failed",
    InboxKind.RATE_LIMITED: "too many guesses",
    InboxKind.OPTED_OUT: "opted out",
}
