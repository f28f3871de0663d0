"""SandboxChannel: records instead of sending, shares its log with other processes, fails on cue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from messaging.channels import Channel, SandboxChannel, SendError, read_sandbox_log
from messaging.types import Button, ChannelKind, OutgoingMessage


def telegram_message(address: str = "5550001234") -> OutgoingMessage:
    return OutgoingMessage(
        ChannelKind.TELEGRAM,
        address,
        "Your <b>order</b> is delayed.",
        buttons=(Button("Wait", "offer:1:wait"),),
        reference="outbox-17",
        metadata={"locale": "es"},
    )


def sms(address: str = "+15551234567") -> OutgoingMessage:
    return OutgoingMessage(ChannelKind.SMS, address, "¿Dónde está mi pedido?")


@pytest.mark.asyncio
async def test_it_records_what_it_sent() -> None:
    channel = SandboxChannel(ChannelKind.TELEGRAM)

    provider_id = await channel.send(telegram_message())

    [record] = channel.sent
    assert (record.provider_id, record.message) == (provider_id, telegram_message())
    assert record.sent_at.tzinfo is not None


@pytest.mark.asyncio
async def test_sms_ids_look_like_twilio_message_sids() -> None:
    channel = SandboxChannel(ChannelKind.SMS)

    assert re.fullmatch(r"SM[0-9a-f]{32}", await channel.send(sms()))


@pytest.mark.asyncio
async def test_telegram_ids_are_marked_as_sandboxed() -> None:
    channel = SandboxChannel(ChannelKind.TELEGRAM)

    first, second = await channel.send(telegram_message()), await channel.send(telegram_message())

    assert [first[:2], second[:2]] == ["SB", "SB"]
    assert first != second


@pytest.mark.asyncio
async def test_its_log_file_can_be_read_back_by_another_reader(tmp_path: Path) -> None:
    log = tmp_path / "var" / "sandbox.jsonl"
    channel = SandboxChannel(ChannelKind.TELEGRAM, log_path=log)

    provider_id = await channel.send(telegram_message())
    await channel.send(telegram_message("42"))

    records = read_sandbox_log(log)
    assert [r.message.address for r in records] == ["5550001234", "42"]
    assert records[0].provider_id == provider_id
    assert records[0].message == telegram_message()
    assert records[0].sent_at == channel.sent[0].sent_at


@pytest.mark.asyncio
async def test_reading_skips_a_line_still_being_written(tmp_path: Path) -> None:
    log = tmp_path / "sandbox.jsonl"
    channel = SandboxChannel(ChannelKind.SMS, log_path=log)
    await channel.send(sms())
    with log.open("a", encoding="utf-8") as file:
        file.write('{"provider_id": "SM')

    assert len(read_sandbox_log(log)) == 1


def test_reading_a_missing_log_finds_nothing(tmp_path: Path) -> None:
    assert read_sandbox_log(tmp_path / "absent.jsonl") == []


@pytest.mark.asyncio
async def test_it_fails_for_an_address_when_told() -> None:
    channel = SandboxChannel(ChannelKind.SMS)
    blocked = SendError("sms_opted_out", "test", permanent=True)
    channel.fail_for("+15550000000", blocked)

    with pytest.raises(SendError) as caught:
        await channel.send(sms("+15550000000"))

    assert caught.value is blocked
    assert channel.sent == []


@pytest.mark.asyncio
async def test_a_default_scripted_failure_is_transient() -> None:
    channel = SandboxChannel(ChannelKind.SMS)
    channel.fail_for("+15550000000")

    with pytest.raises(SendError) as caught:
        await channel.send(sms("+15550000000"))

    assert (caught.value.reason, caught.value.permanent) == ("provider_error", False)


@pytest.mark.asyncio
async def test_a_limited_failure_clears_itself() -> None:
    channel = SandboxChannel(ChannelKind.SMS)
    channel.fail_for("+15550000000", times=1)

    with pytest.raises(SendError):
        await channel.send(sms("+15550000000"))
    await channel.send(sms("+15550000000"))

    assert len(channel.sent) == 1


@pytest.mark.asyncio
async def test_succeed_for_undoes_a_failure() -> None:
    channel = SandboxChannel(ChannelKind.SMS)
    channel.fail_for("+15550000000")
    channel.succeed_for("+15550000000")

    await channel.send(sms("+15550000000"))

    assert len(channel.sent) == 1


@pytest.mark.asyncio
async def test_other_addresses_are_unaffected_by_a_failure() -> None:
    channel = SandboxChannel(ChannelKind.SMS)
    channel.fail_for("+15550000000")

    await channel.send(sms())

    assert len(channel.sent) == 1


@pytest.mark.asyncio
async def test_it_refuses_a_message_for_another_channel() -> None:
    channel = SandboxChannel(ChannelKind.SMS)

    with pytest.raises(SendError) as caught:
        await channel.send(telegram_message())

    assert (caught.value.reason, caught.value.permanent) == ("wrong_channel", True)


@pytest.mark.asyncio
async def test_it_satisfies_the_channel_protocol() -> None:
    channel = SandboxChannel(ChannelKind.TELEGRAM)
    await channel.close()

    assert isinstance(channel, Channel)


@pytest.mark.asyncio
async def test_memory_keeps_only_the_most_recent_records_and_the_log_keeps_all(
    tmp_path: Path,
) -> None:
    log = tmp_path / "sandbox.jsonl"
    channel = SandboxChannel(ChannelKind.SMS, log_path=log, keep=3)
    ids = [
        await channel.send(OutgoingMessage(ChannelKind.SMS, "+14155550100", f"hello {i}"))
        for i in range(5)
    ]
    assert [r.provider_id for r in channel.sent] == ids[2:]
    assert [r.provider_id for r in read_sandbox_log(log)] == ids
