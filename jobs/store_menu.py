"""Menu health's table: image link statuses, cached per URL per day so each link is checked once a day."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel


class ImageCheck(SQLModel, table=True):
    """The HTTP status of an image URL on a day (0 = unreachable); anything but 200 counts as broken."""

    __tablename__ = "image_check"
    url: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    status: int = 0
    checked_at: datetime
