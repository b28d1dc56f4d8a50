with

source as (

    select * from {{ source('fakestore', 'carts__products') }}

),

renamed as (

    -- Lines of every loaded version of a cart; the intermediate layer keeps
    -- those of the cart's newest version by matching load_id.
    select
        cast(cart_id as bigint) as cart_id,
        cast(line_number as integer) as line_number,
        cast(product_id as bigint) as product_id,
        cast(quantity as bigint) as quantity,
        _dlt_load_id as load_id

    from source

)

select * from renamed
