{% macro sql_string(value) -%}
    {{ return(adapter.dispatch('sql_string', 'fakestore')(value)) }}
{%- endmacro %}

{% macro default__sql_string(value) -%}
    {#- A SQL string literal; doubled quotes keep "men's clothing" intact. -#}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__sql_string(value) -%}
    {#- Spark reads '' as two literals side by side: escape with backslashes. -#}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
