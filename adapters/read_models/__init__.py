"""The read models' PostgreSQL tables, and the processes that keep them: the SQL of
`projections/`, whose row types and effects it carries out."""
