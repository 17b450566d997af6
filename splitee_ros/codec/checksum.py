# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The CRC32C that wire frames and result envelopes carry in their header's last field."""

from __future__ import annotations

import google_crc32c

CRC_SIZE = 4


def crc32c_of_record(data: bytes | bytearray, header_size: int) -> int:
    """CRC32C of a record whose header ends with its own CRC field, that field taken as zero."""
    crc_offset = header_size - CRC_SIZE
    crc: int = google_crc32c.extend(0, bytes(data[:crc_offset]))
    crc = google_crc32c.extend(crc, bytes(CRC_SIZE))
    crc = google_crc32c.extend(crc, bytes(data[header_size:]))
    return crc
