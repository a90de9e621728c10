#!/usr/bin/env python3
"""An integrator's subscriber to qorovul's alerts and incidents (docs/integrators.md).

Needs only `eclipse-zenoh==1.10.2` from PyPI (scripts/python-zenoh.sh installs it):

    scripts/python-zenoh.sh docs/examples/subscribe.py --connect tcp/127.0.0.1:7447 --site demo
    # at a post's router, with the integrator's own certificate:
    scripts/python-zenoh.sh docs/examples/subscribe.py --connect tls/router.post1:7447 --site post1 \
        --root-ca ca.pem --certificate integrator.pem --private-key integrator.key

Prints one line per message, `<key> <compact JSON>`, and refuses (on stderr, then goes
on) a message whose `schema_version` has a newer MAJOR than this code was written for.
"""

import argparse
import json
import queue
import sys
from datetime import datetime, timezone

import zenoh

# The contract MAJOR this subscriber understands. A newer MINOR only adds fields: accepted.
SUPPORTED_MAJOR = 1


def rfc3339(text):
    # fromisoformat() takes "Z" only from Python 3.11 on.
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("RFC 3339 needs an offset (Z or +hh:mm)")
    return when


# Messages per vehicle, by keyed hash (plate_key): personal fields arrive masked (01****BC),
# and the keyed hash is how one vehicle is recognised across alerts and incidents.
VEHICLES = {}


def count_vehicles(message):
    """Counts the message for each vehicle it names: an alert's correlation.plate_key, an
    incident's keys.plate_key (its masked plate beside it), on stderr."""
    correlation = message.get("correlation") or {}
    keys = (message.get("incident") or {}).get("keys") or {}
    named = [(correlation.get("plate_key"), correlation.get("plate"))]
    named += list(zip(keys.get("plate_key") or [], keys.get("plate") or []))
    for key, shown in named:
        if key:
            VEHICLES[key] = VEHICLES.get(key, 0) + 1
            print(f"vehicle {key} ({shown or '?'}): {VEHICLES[key]} messages", file=sys.stderr, flush=True)


def print_message(prefix, sample):
    """Prints `<prefix><key> <compact JSON>`, or says on stderr why the message is refused."""
    key = str(sample.key_expr)
    try:
        message = json.loads(sample.payload.to_bytes())
    except ValueError as e:
        print(f"refused {key}: not JSON: {e}", file=sys.stderr, flush=True)
        return False
    version = str(message.get("schema_version", ""))
    id_ = message.get("id") or message.get("incident", {}).get("id", "?")
    major = version.split(".")[0] if "." in version else ""
    if major.isdigit() and int(major) == SUPPORTED_MAJOR:
        # json.loads keeps every field, including those a newer MINOR added.
        print(prefix + key, json.dumps(message, separators=(",", ":")), flush=True)
        count_vehicles(message)
        return True
    if major.isdigit() and int(major) > SUPPORTED_MAJOR:
        why = f"schema_version {version} is a newer MAJOR than {SUPPORTED_MAJOR}"
    else:
        why = f"schema_version {version!r} is not {SUPPORTED_MAJOR}.MINOR"
    print(f"refused {key}: {why}; id {id_}", file=sys.stderr, flush=True)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", action="append", required=True,
                        help="a router (or control-room) endpoint on this machine, e.g. tcp/127.0.0.1:7447 "
                             "(plain tcp/ is loopback only); repeatable")
    parser.add_argument("--site", default="*", help="the site to follow; `*` for every site")
    parser.add_argument("--count", type=int, help="exit after this many live messages (refused ones do not count)")
    parser.add_argument("--history-since", type=rfc3339,
                        help="first ask the control room's store for the alerts since this time (RFC 3339)")
    parser.add_argument("--root-ca", help="for a tls/ router: the CA that signed its certificate")
    parser.add_argument("--certificate", help="this integrator's identity: the certificate (PEM) "
                                              "whose CN the router's access rules name")
    parser.add_argument("--private-key", help="the private key (PEM) of --certificate")
    args = parser.parse_args()
    tls = (args.root_ca, args.certificate, args.private_key)
    if any(tls) and not all(tls):
        parser.error("--root-ca, --certificate and --private-key go together")

    # Client of a router, at explicit endpoints; no multicast scouting on the network.
    config = zenoh.Config()
    config.insert_json5("mode", '"client"')
    config.insert_json5("connect/endpoints", json.dumps(args.connect))
    config.insert_json5("scouting/multicast/enabled", "false")
    # The integrator's identity, checked by the router (mutual TLS); its CN is what the
    # router's access rules let read alert/** and incident/**, never pii/**.
    if all(tls):
        config.insert_json5("transport/link/tls/root_ca_certificate", json.dumps(args.root_ca))
        config.insert_json5("transport/link/tls/connect_certificate", json.dumps(args.certificate))
        config.insert_json5("transport/link/tls/connect_private_key", json.dumps(args.private_key))
        config.insert_json5("transport/link/tls/enable_mtls", "true")
    try:
        session = zenoh.open(config)
    except zenoh.ZError as e:
        sys.exit(f"connecting to {', '.join(args.connect)}: {e}")
    with session:
        # Both subscriptions feed one queue, read by one loop below.
        samples = queue.Queue()
        subscribers = [session.declare_subscriber(f"qv/{args.site}/{kind}/**", samples.put)
                       for kind in ("alert", "incident")]
        print("subscribed", file=sys.stderr, flush=True)

        # Subscribed first, then the history: nothing falls in between (an alert may come
        # twice; `id` tells).
        if args.history_since:
            since = args.history_since.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
            # No consolidation: zenoh's default keeps one reply per key, but every alert of a
            # camera and kind shares its key.
            received = 0
            for reply in session.get(f"qv/{args.site}/alert/**?since={since}", timeout=10,
                                     consolidation=zenoh.ConsolidationMode.NONE):
                if reply.ok:
                    received += 1
                    print_message("history ", reply.ok)
                else:
                    print("history query refused:", reply.err.payload.to_string(), file=sys.stderr, flush=True)
            print(f"history: {received} replies", file=sys.stderr, flush=True)

        printed = 0
        while args.count is None or printed < args.count:
            if print_message("", samples.get()):
                printed += 1
        for subscriber in subscribers:
            subscriber.undeclare()


if __name__ == "__main__":
    main()
