"""Every table, as SQLAlchemy Core. Timestamps are integer milliseconds since the epoch (UTC)."""

from __future__ import annotations

import sqlalchemy as sa

from pixsearch.vocabulary.fields import BOOL_FIELDS, LABEL_FIELDS, PROSE_FIELDS, URL_FIELDS

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger),
)

images = sa.Table(
    "images",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # internal row id: FTS rowid, vector row
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("image_id", sa.String(256), nullable=False),
    *(sa.Column(name, sa.String(2048)) for name in URL_FIELDS),
    *(sa.Column(name, sa.Text) for name in PROSE_FIELDS),
    *(sa.Column(name, sa.Boolean) for name in BOOL_FIELDS),
    *(sa.Column(name, sa.Text) for name in LABEL_FIELDS),
    sa.Column("date", sa.String(10)),  # YYYY-MM-DD, so text order is date order
    sa.Column("keywords", sa.JSON),
    sa.Column("categories", sa.JSON),
    sa.Column("collections", sa.JSON),
    # Computed from the pixels
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("aspect_ratio", sa.Float),
    sa.Column("orientation", sa.String(10)),
    sa.Column("n_faces", sa.Integer),
    sa.Column("faces", sa.JSON),  # [{"n", "box": [x, y, w, h], "score"}], largest first
    sa.Column("phash", sa.BigInteger),  # 64-bit DCT hash, stored signed
    sa.Column("content_type", sa.String(100)),
    sa.Column("byte_size", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("tags", sa.JSON),  # generated keywords, in the operation's language
    sa.Column("tag_text", sa.Text),  # what full text indexes for them (forms, synonyms)
    sa.Column("ocr_text", sa.Text),
    sa.Column("colors", sa.JSON),  # [{"hex": "#rrggbb", "share": 0.41}, ...]
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("org_id", "image_id"),
    sa.Index("ix_images_org_created", "org_id", "created_at"),
    sa.Index("ix_images_org_sha256", "org_id", "sha256"),
)

# One row per element of keywords / categories / collections: set filters and facets are
# plain indexed SQL on both engines.
image_terms = sa.Table(
    "image_terms",
    metadata,
    sa.Column(
        "image_pk", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("field", sa.String(16), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("value_norm", sa.Text, nullable=False),  # case- and accent-folded
    sa.Index("ix_image_terms_lookup", "org_id", "field", "value_norm", "image_pk"),  # covering
    sa.Index("ix_image_terms_image", "image_pk"),
)

# One row per dominant colour (OKLab): `color~` and `color=` are plain SQL on both engines.
image_colors = sa.Table(
    "image_colors",
    metadata,
    sa.Column(
        "image_pk", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("l", sa.Float, nullable=False),
    sa.Column("a", sa.Float, nullable=False),
    sa.Column("b", sa.Float, nullable=False),
    sa.Column("share", sa.Float, nullable=False),
    sa.Column("family", sa.String(16), nullable=False),
    sa.Index("ix_image_colors_image", "image_pk"),
    sa.Index("ix_image_colors_org_family", "org_id", "family", "image_pk"),
)

# Embeddings, each naming the model that made it: vectors of two models are never mixed.
embeddings = sa.Table(
    "embeddings",
    metadata,
    sa.Column(
        "image_pk", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("kind", sa.String(16), primary_key=True),  # "clip" or "caption"
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float32, L2-normalised
    sa.Index("ix_embeddings_org_kind_model", "org_id", "kind", "model"),
)

# One row per face of an image analysed with identities, numbered as in `images.faces`;
# the descriptor is null for a face too small to have one.
# On PostgreSQL migration 0004 adds `descriptor_vec vector(128)` for pgvector's distance.
image_faces = sa.Table(
    "image_faces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "image_pk", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),  # the face's number in its image, from 1
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("descriptor", sa.LargeBinary),  # float32, 128 values; null: too small
    sa.Index("ix_image_faces_org_model", "org_id", "model"),
    sa.Index("ix_image_faces_image", "image_pk", "n"),
)

# Named people (`/celebs`), each with the descriptors of its example faces, copied when
# registered, so that deleting an example image keeps the person.
celebs = sa.Table(
    "celebs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("name_norm", sa.String(200), nullable=False),  # case- and accent-folded
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("org_id", "name_norm"),
)

celeb_faces = sa.Table(
    "celeb_faces",
    metadata,
    sa.Column(
        "celeb_id", sa.Integer, sa.ForeignKey("celebs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("face", sa.String(300), nullable=False),  # the example as given: img42_1
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("descriptor", sa.LargeBinary, nullable=False),
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),  # add, upd, del
    sa.Column("mode", sa.String(8), nullable=False),  # add, put, patch, del, reembed
    sa.Column("state", sa.String(10), nullable=False),  # queued, running, finished
    sa.Column("do_wait", sa.Boolean, nullable=False),
    sa.Column("do_urgent", sa.Boolean, nullable=False),
    sa.Column("do_strict", sa.Boolean, nullable=False),
    sa.Column("do_subset", sa.Boolean, nullable=False),
    sa.Column("lang", sa.String(4), nullable=False),
    sa.Column("num_total", sa.Integer, nullable=False),
    sa.Column("num_good", sa.Integer, nullable=False, default=0),
    sa.Column("num_bad", sa.Integer, nullable=False, default=0),
    sa.Column("all_good", sa.Boolean),
    sa.Column("errors", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),  # runs started
    sa.Column("failures", sa.Integer, nullable=False, default=0),  # its own unexpected errors
    sa.Column("crashes", sa.Integer, nullable=False, default=0),  # process deaths blamed on it
    sa.Column("isolated", sa.Boolean, nullable=False, default=False),  # run it alone next
    sa.Column("worker", sa.String(100)),
    sa.Column("worker_backend", sa.Integer),  # PostgreSQL pid of the worker's presence session
    sa.Column("heartbeat_at", sa.BigInteger),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("started_at", sa.BigInteger),
    sa.Column("finished_at", sa.BigInteger),
    sa.Index("ix_operations_org_id", "org_id", "id"),
)
# Each organisation's next operation, and which organisations have one (store._candidates).
sa.Index(
    "ix_operations_heads",
    operations.c.state,
    operations.c.org_id,
    operations.c.do_urgent.desc(),
    operations.c.id,
)

operation_items = sa.Table(
    "operation_items",
    metadata,
    sa.Column(
        "op_id", sa.Integer, sa.ForeignKey("operations.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("seq", sa.Integer, primary_key=True),  # request order
    sa.Column("image_id", sa.String(256), nullable=False),
    sa.Column("raw_id", sa.JSON, nullable=False),  # the id as the request gave it (str or int)
    sa.Column("body", sa.JSON),  # the fields given; null for a delete
)

# Idempotency-Key of a write: a repeat within the retention time answers with the same
# operation. The primary key is what makes two racing requests create one operation.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),  # SHA-256 of the request
    sa.Column(
        "op_id", sa.Integer, sa.ForeignKey("operations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
    sa.Index("ix_idempotency_keys_op_id", "op_id"),
)
