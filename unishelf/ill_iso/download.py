"""The download end of electronic delivery: GET /ill/files/ID/UNTIL/SIGNATURE/NAME.

The link is the only credential (peers' staff and ILL systems download without an account
here), so it is checked before anything is read: 403 for a bad signature, 410 for an expired
link or a purged file, 404 for anything that is not a link. The file is streamed by
twisted.web.static.File (a producer, with Range and HEAD), never read into memory.
"""
from __future__ import annotations

import urllib.parse

from twisted.web import resource, static

from unishelf.ill_iso.delivery import (BadSignature, DeliveryArea, DeliverySettings, FileGone, LinkExpired,
                                       MalformedLink)

_STATUS = {MalformedLink: 404, BadSignature: 403, LinkExpired: 410, FileGone: 410}


class DownloadResource(resource.Resource):
    isLeaf = True

    def __init__(self, area: DeliveryArea):
        super().__init__()
        self.area = area

    def render_GET(self, request):
        try:
            file_id, until, signature, name = [urllib.parse.unquote(segment.decode("ascii"), errors="strict")
                                               for segment in request.postpath]
            path = self.area.resolve(file_id, until, signature, name)
        except (ValueError, UnicodeError):   # not four segments, or not ASCII / UTF-8
            return _refuse(request, 404, "not a delivery link")
        except tuple(_STATUS) as error:
            return _refuse(request, _STATUS[type(error)], str(error))
        file = static.File(str(path), defaultType="application/octet-stream")
        file.contentEncodings = {}   # a .gz scan is the file itself, not gzip transfer coding
        request.setHeader(b"content-disposition", content_disposition(path.name))
        request.setHeader(b"x-content-type-options", b"nosniff")
        return file.render_GET(request)

    render_HEAD = render_GET


def content_disposition(name: str) -> bytes:
    """`attachment` with the UTF-8 name (RFC 6266) and an ASCII stand-in for old clients."""
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}".encode()


def _refuse(request, status: int, message: str) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return f"{message}\n".encode()


def resource_from_config(config) -> DownloadResource:
    return DownloadResource(DeliveryArea(DeliverySettings.from_config(config)))
