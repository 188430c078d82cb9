"""`unishelf user add|list|remove`: the accounts kept in the store, beside those in config.

Passwords are read from standard input (never from the command line, where `ps` shows them)
and stored only as salted hashes.
"""
from __future__ import annotations

import getpass
import sys

from .app import open_catalog
from .auth import hash_password
from .config import ROLES


def register(commands):
    user = commands.add_parser("user", help="add, list or remove user accounts")
    actions = user.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user, or replace one of the same name")
    add.add_argument("name")
    add.add_argument("--role", action="append", choices=sorted(ROLES), required=True,
                     help="may be repeated: searcher, cataloguer, ill-staff, admin")
    add.add_argument("--library", metavar="CODE", help="the member library the user works for")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=cmd_user_add)
    actions.add_parser("list", help="every user, with roles and library").set_defaults(handler=cmd_user_list)
    remove = actions.add_parser("remove", help="remove a user added with `user add`")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_user_remove)


def cmd_user_add(config, args) -> int:
    codes = {library.code for library in config.libraries}
    if args.library and args.library not in codes:
        print(f"unishelf user add: {args.library!r} is not a member library ({', '.join(sorted(codes))})",
              file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    if not password:
        print("unishelf user add: the password is empty", file=sys.stderr)
        return 2
    entry = {"name": args.name, "password_hash": hash_password(password), "roles": sorted(set(args.role)),
             "library": args.library}
    catalog = open_catalog(config)
    try:
        with catalog.store.writing() as writer:
            writer.put_user(entry)
    finally:
        catalog.close()
    print(f"user {args.name}: {', '.join(entry['roles'])}" + (f" at {args.library}" if args.library else ""))
    return 0


def cmd_user_list(config, args) -> int:
    catalog = open_catalog(config, readonly=True)
    try:
        with catalog.store.reading() as reader:
            stored = reader.users()
    finally:
        catalog.close()
    names = {entry["name"] for entry in stored}
    rows = [(e, "store") for e in stored] + [(e, "config") for e in config["users"] if e["name"] not in names]
    for entry, source in sorted(rows, key=lambda row: row[0]["name"]):
        print(f"{entry['name']:<20} {','.join(entry.get('roles', [])):<30} {entry.get('library') or '-':<10} {source}")
    return 0


def cmd_user_remove(config, args) -> int:
    catalog = open_catalog(config)
    try:
        with catalog.store.writing() as writer:
            removed = writer.remove_user(args.name)
    finally:
        catalog.close()
    if not removed:
        in_config = any(e["name"] == args.name for e in config["users"])
        print(f"unishelf user remove: no user {args.name!r} in the store"
              + (" (that one is in the config file: edit it there)" if in_config else ""), file=sys.stderr)
        return 1
    print(f"user {args.name} removed")
    return 0
