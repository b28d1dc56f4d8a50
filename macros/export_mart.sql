{% macro export_mart() -%}
    {#- Writes this mart as Parquet and CSV for BI tools. DuckDB writes to a
        tmp_ file in the same folder, then renames it over the old one: a
        reader sees the old file or the new one, never half of one. -#}
    {%- set folder = env_var('MARTS_EXPORT_DIR', 'data/marts').rstrip('/') -%}
    {%- set path = folder ~ '/' ~ this.identifier -%}
    select ensure_directory({{ sql_string(folder) }});
    copy (select * from {{ this }} order by all)
    to {{ sql_string(path ~ '.parquet') }}
    (format parquet, use_tmp_file true);
    copy (select * from {{ this }} order by all)
    to {{ sql_string(path ~ '.csv') }}
    (format csv, header true, use_tmp_file true)
{%- endmacro %}
