{% macro to_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'fakestore')(column)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(column) -%}
    cast({{ column }} as timestamp)
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(column) -%}
    {#- A zone-aware instant to the wall-clock time in UTC, not local. -#}
    timezone('UTC', {{ column }})
{%- endmacro %}

{% macro spark__to_utc_timestamp(column) -%}
    {#- An instant to the wall-clock time in the session's zone, which the
        spark profile pins to UTC. -#}
    cast({{ column }} as timestamp_ntz)
{%- endmacro %}
