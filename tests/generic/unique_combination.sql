{% test unique_combination(model, columns) %}

with

keyed as (

    select
        {{ columns | join(", ") }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(", ") }}

)

select * from keyed
where occurrences > 1

{% endtest %}
