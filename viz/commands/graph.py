"""`synack graph`: conversations, the TCP state machine, the test network (placeholder until drawn)."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("graph", help="draw conversation, TCP state-machine or topology graphs")
    p.add_argument("capture", metavar="CAPTURE")
    p.set_defaults(run=lambda args: 2)
