{% macro register_lake_tables() -%}
    {{ return(adapter.dispatch('register_lake_tables', 'fakestore')()) }}
{%- endmacro %}

{% macro default__register_lake_tables() -%}
    {#- DuckDB reads the raw tables from its file or the lake's sources. -#}
{%- endmacro %}

{% macro spark__register_lake_tables() -%}
    {#- Each raw table of the lake as an external table of the `raw` schema,
        so that source('fakestore', ...) reads the same on Spark as on
        DuckDB. Dropping an external table keeps its files; making it again
        on every run infers the schema anew, merged over every load's files.
        A table's meta `lake_extension` names its file format (Parquet by
        default, `jsonl` for dlt's JSON lines). -#}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set lake_url = spark_lake_url() -%}
    {%- set formats = {'parquet': 'parquet', 'jsonl': 'json'} -%}
    {%- set tables = graph.sources.values()
        | selectattr('source_name', 'equalto', 'fakestore') | list -%}
    {%- set schema = tables[0].schema -%}
    {%- do run_query('create database if not exists ' ~ schema) -%}
    {%- for table in tables -%}
        {%- set relation = schema ~ '.' ~ table.identifier -%}
        {%- set location = lake_url ~ '/' ~ schema ~ '/' ~ table.identifier -%}
        {%- set format = formats[table.meta.get('lake_extension', 'parquet')] -%}
        {%- do run_query('drop table if exists ' ~ relation) -%}
        {%- do run_query(
            'create table ' ~ relation ~ ' using ' ~ format
            ~ " options (mergeSchema 'true')"
            ~ ' location ' ~ sql_string(location)
        ) -%}
        {%- do log('lake table ' ~ relation ~ ' reads ' ~ location) -%}
    {%- endfor -%}
{%- endmacro %}

{% macro spark_lake_url() -%}
    {#- SPARK_LAKE_URL, else LAKE_URL (the loader's). Spark takes a table's
        location as a URL: a relative path is made absolute from the
        driver's folder, which only a local master shares. -#}
    {%- set url = env_var('SPARK_LAKE_URL', env_var('LAKE_URL', 'data/lake'))
        .rstrip('/') -%}
    {%- if ':' in url or url.startswith('/') -%}
        {{ return(url) }}
    {%- endif -%}
    {%- if not env_var('SPARK_MASTER', 'local').startswith('local') -%}
        {{ exceptions.raise_compiler_error(
            'SPARK_LAKE_URL or LAKE_URL is the relative path ' ~ url
            ~ ': a cluster needs a URL every executor reads,'
            ~ ' e.g. s3a://bucket/lake') }}
    {%- endif -%}
    {%- set folder = run_query(
        "select reflect('java.lang.System', 'getProperty', 'user.dir')"
    ).columns[0].values()[0] -%}
    {{ return(folder ~ '/' ~ url) }}
{%- endmacro %}
