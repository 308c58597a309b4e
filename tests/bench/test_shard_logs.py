"""bench/shard_logs.py reads operator logs while the operators run: a line still being written is not
a line yet."""

from __future__ import annotations

from pathlib import Path

from shard_logs import read


def test_a_last_line_still_being_written_is_left_for_the_next_read(tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    log.write_text('{"event": "joined"}\nnot json\n{"event": "passes start"}\n{"event": "sha')
    assert read(log) == [{"event": "joined"}, {"event": "passes start"}]
    log.write_text(log.read_text() + 'rds changed"}\n')
    assert read(log)[-1] == {"event": "shards changed"}
