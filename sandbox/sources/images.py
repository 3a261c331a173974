"""Menu and product images: a tiny PNG for every known image, 404 for the ones planted broken."""

from __future__ import annotations

import base64
from collections.abc import Iterable

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
                        return Response(PNG, 200, {"Cache-Control": "max-age=3600"}, mimetype="image/png")
                    break
        return Response("Not Found", 404, mimetype="text/plain")
