"""Menu and product images: a tiny PNG for every known image, 404 for the ones planted broken.

Each image carries an ETag and a Last-Modified, and a conditional request whose validators still match
is answered 304 without the body, as a CDN does.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, time

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.sources.http import SystemApp

# A valid 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


class ImagesApp(SystemApp):
    system = "images"

    def rules(self) -> Iterable[Rule]:
        return [Rule("/<store_id>/<name>", endpoint="image", methods=["GET"])]

    def image(self, request: Request, store_id: str, name: str) -> Response:
        """HEAD is answered like GET (werkzeug adds it), so link checkers see the same status."""
        portfolio = self.ctx.portfolio
        path = f"/images/{store_id}/{name}"
        if portfolio.has_store(store_id):
            for product in portfolio.products(store_id):
                if product.image_path == path:
                    if product.image_ok:
                        return self.png(request, path)
                    break
        return Response("Not Found", 404, mimetype="text/plain")

    def png(self, request: Request, path: str) -> Response:
        """The image, or 304 when the request's If-None-Match / If-Modified-Since still match it.

        The images never change in the sandbox: uploaded on the first day of history, tagged by path."""
        response = Response(PNG, 200, {"Cache-Control": "max-age=3600"}, mimetype="image/png")
        response.set_etag(hashlib.sha256(f"{path}|".encode() + PNG).hexdigest()[:16])
        response.last_modified = datetime.combine(self.ctx.portfolio.history[0], time(0), UTC)
        return response.make_conditional(request)
