{% macro newest_version(relation, key) -%}
    {#- Keeps, for each key, the row of the newest load: one row per key. -#}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key }}
                order by cast(_dlt_load_id as decimal(20, 6)) desc
            ) as version_rank
        from {{ relation }}
    ) as versions
    where version_rank = 1
{%- endmacro %}
