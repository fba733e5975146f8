"""What the pipeline shows: the tables of reports/tables.md (`tables`), the verdicts drawn from
the diagnostics (`verdicts`), plots (`plots`) and the offline HTML neighbour report
(`neighbour_report`, `page`, `previews`)."""
