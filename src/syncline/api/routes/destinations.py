"""``/api/v1/workspaces/{id}/destinations``: where syncs write (configs shown masked)."""

from __future__ import annotations

from syncline.api.routes.connections import Kind, connection_router
from syncline.api.schemas.connections import DestinationCreate, DestinationOut, DestinationUpdate
from syncline.services import destinations as service

router = connection_router(
    Kind(
        plural="destinations",
        singular="destination",
        id_alias="destinationId",
        out=DestinationOut,
        create=DestinationCreate,
        update=DestinationUpdate,
        service=service,
        delete_doc="no sync writes to",
    )
)
