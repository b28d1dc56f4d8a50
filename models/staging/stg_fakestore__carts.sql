with

source as (

    select * from {{ source('fakestore', 'carts') }}

),

newest as (

    {{ newest_version('source', 'id') }}

),

renamed as (

    select
        cast(id as bigint) as cart_id,
        cast(user_id as bigint) as user_id,
        {{ to_utc_timestamp('date') }} as carted_at,
        cast({{ to_utc_timestamp('date') }} as date) as cart_date,
        _dlt_load_id as load_id

    from newest

)

select * from renamed
