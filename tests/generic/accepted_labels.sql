{% test accepted_labels(model, column_name, values) %}

with

labels as (

    select {{ column_name }} as label
    from {{ model }}
    where {{ column_name }} is not null

)

select label
from labels
where label not in (
    {%- for value in values %}
        {{ sql_string(value) }}{{ "," if not loop.last }}
    {%- endfor %}
)

{% endtest %}
