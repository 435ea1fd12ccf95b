"""Link-layer header type numbers and the names libpcap gives them.

Files store LINKTYPE_ values (tcpdump.org/linktypes.html); users and tshark's
truth documents know them by the DLT name `pcap_datalink_val_to_name` prints,
so that is the spelling `Capture.link_types` uses.
"""
from __future__ import annotations

NULL = 0
EN10MB = 1
PPP = 9
RAW_BSD = 12  # DLT_RAW on most BSDs/Linux when written by old tools
RAW_OPENBSD = 14
PPP_SERIAL = 50
RAW = 101
C_HDLC = 104
LOOP = 108
LINUX_SLL = 113
IPV4 = 228
IPV6 = 229
LINUX_SLL2 = 276

DLT_NAMES = {
    0: "NULL", 1: "EN10MB", 3: "AX25", 6: "IEEE802", 7: "ARCNET", 8: "SLIP",
    9: "PPP", 10: "FDDI", 12: "RAW", 14: "RAW", 50: "PPP_SERIAL",
    51: "PPP_ETHER", 100: "ATM_RFC1483", 101: "RAW", 104: "C_HDLC",
    105: "IEEE802_11", 107: "FRELAY", 108: "LOOP", 109: "ENC",
    113: "LINUX_SLL", 114: "LTALK", 117: "PFLOG", 119: "PRISM_HEADER",
    127: "IEEE802_11_RADIO", 129: "ARCNET_LINUX", 138: "APPLE_IP_OVER_IEEE1394",
    143: "DOCSIS", 163: "IEEE802_11_RADIO_AVS", 187: "BLUETOOTH_HCI_H4",
    192: "PPI", 195: "IEEE802_15_4", 201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED", 227: "CAN_SOCKETCAN", 228: "IPV4", 229: "IPV6",
    239: "NFLOG", 249: "USBPCAP", 253: "NETLINK", 276: "LINUX_SLL2",
}


def link_type_name(value: int) -> str:
    """libpcap's DLT name for a LINKTYPE_ value, or LINKTYPE_<n> when it has none."""
    return DLT_NAMES.get(value, "LINKTYPE_%d" % value)
