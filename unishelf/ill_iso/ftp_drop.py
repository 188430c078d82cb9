"""The FTP drop: where a supplying library's staff put scanned copies, and the hourly purge.

Scanners and staff PCs speak FTP, so staff upload with their unishelf account (the password
check Z39.50 uses); ILL staff and admins of a library see only that library's drop directory,
where they may list, upload, delete and make directories. No anonymous login. Runs in the main
serving process only (MAIN_DAEMONS in unishelf.serve), like the ILL daemon: one listener, one
purge.
"""
from __future__ import annotations

import logging
import os
import tempfile

from twisted.application import service
from twisted.cred import credentials, error, portal
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer, task
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IConsumer
from twisted.protocols import ftp
from twisted.python import filepath
from zope.interface import implementer

from unishelf.auth import Users
from unishelf.ill_iso.delivery import DeliveryArea, DeliverySettings

log = logging.getLogger("unishelf.ill.delivery")
PURGE_SECONDS = 3600


@implementer(ICredentialsChecker)
class StaffChecker:
    """Lets in ILL staff (and admins) who work for a library; the avatar id is that library's code."""

    credentialInterfaces = (credentials.IUsernamePassword,)

    def __init__(self, users: Users):
        self.users = users

    def requestAvatarId(self, given):
        """`given` holds text: DropFTP decoded the command line."""
        user = self.users.authenticate(given.username, given.password) if given.username else None
        if user is None or not user.has("ill-staff") or not user.library:
            return defer.fail(error.UnauthorizedLogin())
        return defer.succeed(user.library)


class TooLarge(ftp.FTPCmdError):
    """552: the upload is larger than a delivery may be."""

    errorCode = ftp.EXCEEDED_STORAGE_ALLOC

    def response(self) -> str:
        """The reply line with our reason (Twisted's text for 552 has no place for one)."""
        return " ".join((self.errorCode, *self.errorMessage))


@implementer(IConsumer)
class _CappedWriter:
    """Writes an upload to its file up to `max_size` bytes and drops the rest, so a runaway
    upload cannot fill the disk; the client still sends it all and then hears 552."""

    def __init__(self, file, max_size: int):
        self.file = file
        self.max_size = max_size
        self.size = 0

    def registerProducer(self, producer, streaming):
        pass

    def unregisterProducer(self):
        self.file.close()

    def write(self, data: bytes):
        self.size += len(data)
        if self.size <= self.max_size:
            self.file.write(data)

    @property
    def exceeded(self) -> bool:
        return self.size > self.max_size


class _RenamedWhenDone:
    """An upload written under a hidden name and given its own when the transfer is complete,
    so `ship --dropped` never takes a scan still arriving (the drop ignores hidden files). Each
    upload has its own `.NAME.XXXXXXXX.part`, so two uploads of one name at once do not write
    into each other: the last to finish wins. One over `max_size` is deleted instead: `take`
    would refuse it anyway."""

    def __init__(self, final: filepath.FilePath, max_size: int):
        descriptor, partial = tempfile.mkstemp(dir=final.dirname(), prefix=f".{final.basename()}.", suffix=".part")
        self.partial = filepath.FilePath(partial)
        self.final = final
        self.writer = _CappedWriter(os.fdopen(descriptor, "wb"), max_size)

    def receive(self):
        return defer.succeed(self.writer)   # it closes the file when the data ends

    def close(self):
        self.writer.file.close()
        if self.writer.exceeded:
            self.partial.remove()
            return defer.fail(TooLarge(f"{self.final.basename()}: more than ill.delivery.max_size "
                                       f"({self.writer.max_size} bytes)"))
        self.partial.moveTo(self.final)
        return defer.succeed(None)


class DropShell(ftp.FTPShell):
    """A library's drop, where a file appears only once it has arrived whole."""

    def __init__(self, root: filepath.FilePath, max_size: int):
        super().__init__(root)
        self.max_size = max_size

    def openForWriting(self, path):
        final = self._path(path)
        if final.isdir():
            return defer.fail(IsADirectoryError(path))
        try:
            return defer.succeed(_RenamedWhenDone(final, self.max_size))
        except OSError as error:
            return ftp.errnoToFailure(error.errno, path)


@implementer(portal.IRealm)
class DropRealm:
    """A library's staff share one home: its drop directory, and nothing above it."""

    def __init__(self, area: DeliveryArea):
        self.area = area

    def requestAvatar(self, library_code, mind, *interfaces):
        if ftp.IFTPShell not in interfaces:
            raise NotImplementedError("the FTP drop serves FTP shells only")
        shell = DropShell(filepath.FilePath(str(self.area.drop_dir(library_code))), self.area.settings.max_size)
        return ftp.IFTPShell, shell, lambda: None


class DropFTP(ftp.FTP):
    """Commands in UTF-8 (what ftplib, FileZilla and curl send; RFC 2640), not Twisted's Latin-1,
    so a password or file name outside ASCII arrives as typed; listings are UTF-8 already."""

    _encoding = "utf-8"

    def lineReceived(self, line: bytes):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            self.reply(ftp.SYNTAX_ERR, "commands must be UTF-8")
            return
        return super().lineReceived(line)

    def ftp_NLST(self, path=""):
        """A bare NLST (ftplib's nlst(), Windows ftp's ls) lists the working directory."""
        return super().ftp_NLST(path)

    def type_A(self, code):
        """Acknowledged, but transfers stay binary: scans are binary, and Twisted's ASCII
        conversion fails on bytes (426 for Windows ftp.exe, which sends TYPE A by default)."""
        reply = super().type_A(code)
        self.binary = True
        return reply

    def ftp_PORT(self, address):
        """Passive mode only: PORT would let a logged-in user make the node connect anywhere."""
        return defer.fail(ftp.CmdNotImplementedError("PORT: use passive mode (PASV)"))


def ftp_factory(area: DeliveryArea, users: Users) -> ftp.FTPFactory:
    factory = ftp.FTPFactory(portal.Portal(DropRealm(area), [StaffChecker(users)]))
    factory.protocol = DropFTP
    factory.allowAnonymous = False
    factory.welcomeMessage = "unishelf ILL drop: log in with your unishelf account"
    return factory


class DeliveryService(service.Service):
    """The FTP listener (none when `port` is 0) and the hourly purge of delivered files."""

    name = "ill-delivery"

    def __init__(self, area: DeliveryArea, users: Users, host: str, port: int, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.area = area
        self.users = users
        self.host = host
        self.port_number = port
        self.reactor = reactor
        self.port = None
        self.listening_failed = False
        self.loop: task.LoopingCall | None = None

    @property
    def description(self) -> str:
        keep = f"delivered files kept {self.area.settings.keep_days} days"
        if self.port is not None:
            address = self.port.getHost()
            return f"ILL FTP drop on {address.host}:{address.port}, {keep}"
        state = "not listening (see the error above)" if self.listening_failed else "off (listen.ftp_port is 0)"
        return f"ILL FTP drop {state}; {keep}"

    def startService(self):
        super().startService()
        if self.port_number:
            try:
                self.port = self.reactor.listenTCP(self.port_number, ftp_factory(self.area, self.users),
                                                   interface=self.host)
            except CannotListenError as failure:
                # the rest of the node serves on; staff can still hand files to `take` directly
                self.listening_failed = True
                log.error("ILL FTP drop not listening on %s:%d: %s", self.host, self.port_number, failure.socketError)
        self.loop = task.LoopingCall(self.purge)
        self.loop.clock = self.reactor
        self.loop.start(PURGE_SECONDS, now=True)

    def stopService(self):
        super().stopService()
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()

    def purge(self):
        try:
            for path in self.area.purge():
                log.info("ILL delivery: deleted %s after %d days", path, self.area.settings.keep_days)
        except Exception:   # a bad directory must not stop the hourly loop
            log.exception("ILL delivery purge failed")


def service_from_config(catalog) -> DeliveryService:
    config = catalog.config
    listen = config["listen"]
    settings = DeliverySettings.from_config(config)
    catalog.writes.run(catalog.store.stamp_ill_download_base, settings.base_url)
    return DeliveryService(DeliveryArea(settings),
                           Users.from_config(config, catalog.store), listen["host"], listen["ftp_port"])
