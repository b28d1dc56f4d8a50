{% macro sql_string(value) -%}
    {#- A SQL string literal; doubled quotes keep "men's clothing" intact. -#}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}
