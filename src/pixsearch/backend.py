"""Everything that differs between SQLite and PostgreSQL, chosen once when resources open.

One `Backend` per engine bundles the plain-SQL `Dialect` (queue locks, notifications,
statistics, SQL functions, pk sets) and the engine classes of the derived indexes that
differ (full text, embeddings, faces); the set-term index is the same SQL on both. Nothing else
asks which engine it runs on (the way `huey.storage` keeps one storage class per engine).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from pixsearch.db.dialect import Dialect, dialect_of
from pixsearch.index.columns import ColumnIndex
from pixsearch.index.embeddings import Embeddings, PostgresEmbeddings, SQLiteEmbeddings
from pixsearch.index.faces import Faces, PostgresFaces, SQLiteFaces
from pixsearch.index.fulltext import FullText, PostgresFullText, SQLiteFullText

# The index classes of each engine, by the dialect's name.
INDEXES: dict[str, tuple[type[FullText], type[Embeddings], type[Faces]]] = {
    "sqlite": (SQLiteFullText, SQLiteEmbeddings, SQLiteFaces),
    "postgresql": (PostgresFullText, PostgresEmbeddings, PostgresFaces),
}
# Whether metadata filters, sorts and facets are answered from columns in memory: only where
# one process owns the database and hears of every write; PostgreSQL answers them in SQL.
COLUMNS_IN_MEMORY: dict[str, bool] = {"sqlite": True, "postgresql": False}


@dataclass(frozen=True)
class Backend:
    dialect: Dialect
    fulltext: FullText
    embeddings: Embeddings
    faces: Faces
    columns: ColumnIndex | None = None  # None: metadata searches are SQL

    @property
    def name(self) -> str:
        return self.dialect.name

    def close(self) -> None:
        self.fulltext.close()
        self.embeddings.close()
        if self.columns is not None:
            self.columns.close()


def open_backend(engine: sa.Engine, *, results_in_memory: bool = True) -> Backend:
    """The backend of the engine's database (close it after use); `results_in_memory`:
    whether the column index, where there is one, also keeps the rows' result fields."""
    dialect = dialect_of(engine)
    fulltext, embeddings, faces = INDEXES[dialect.name]
    columns = (
        ColumnIndex(engine, results=results_in_memory) if COLUMNS_IN_MEMORY[dialect.name] else None
    )
    return Backend(dialect, fulltext(engine), embeddings(engine), faces(engine), columns)
