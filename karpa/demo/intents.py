"""The customer-service intents and how customers express them.

Each intent is carried by two slots: a *request* (what the customer wants) and an *issue*
(the situation behind it), each with eight base forms written head first. Nothing else in a
message (greetings, item mentions, order numbers, prices, dates) tells intents apart.
`oos` is the out-of-scope class: small talk a support bot should not route.
"""

from __future__ import annotations

from karpa.demo.forms import Slot


def _intent(name: str, request: list[str], issue: list[str]) -> tuple[str, Slot, Slot]:
    return name, Slot(f"{name}.request", tuple(request)), Slot(f"{name}.issue", tuple(issue))


# fmt: off
_GRAMMAR = (
    _intent(
        "track_order",
        ["where is my parcel", "can you track my package", "any update on my delivery",
         "whats the status of my shipment", "when will my stuff arrive",
         "could you locate my consignment", "is my box on its way",
         "has my purchase been dispatched"],
        ["it still hasnt arrived", "been waiting for ages", "tracking page shows nothing",
         "the courier never came", "no sign of it yet", "its overdue by a week",
         "nothing turned up today", "the estimate keeps slipping"],
    ),
    _intent(
        "return_item",
        ["i want to return this", "how do i send it back", "can i get a return label",
         "need to exchange it", "please arrange a collection", "how do returns work",
         "i would like to swap sizes", "where do i drop off parcels for returning"],
        ["it doesnt fit", "the size runs small", "it looks different from the photos",
         "i changed my mind", "it is too baggy", "not what i expected",
         "the shade looks off in person", "the fabric feels cheap"],
    ),
    _intent(
        "refund_status",
        ["where is my refund", "when do i get my money back",
         "has the reimbursement been processed", "can you check on my repayment",
         "still no credit on my statement", "has the cash been returned",
         "when will the payout clear", "is my compensation on the way"],
        ["i sent the goods back weeks ago", "your warehouse received it",
         "you confirmed receipt", "the courier collected it already", "the depot signed for it",
         "my bank still shows the charge", "the balance hasnt changed", "it has been ten days"],
    ),
    _intent(
        "change_address",
        ["can i change my delivery address", "please update where it ships",
         "redirect my parcel elsewhere", "fix the postcode", "amend the street name",
         "send it to my office instead", "use my new flat number", "relocate the drop point"],
        ["i just moved house", "i typed the wrong street", "we relocated last week",
         "the apartment number is missing", "i wont be home then", "my old place is empty now",
         "i entered an outdated location", "the zipcode has a typo"],
    ),
    _intent(
        "cancel_order",
        ["please cancel my order", "i want to call it off", "stop the purchase",
         "scrap the whole thing", "void the transaction", "abort my checkout",
         "dont ship it anymore", "undo what i bought"],
        ["i ordered by mistake", "found it cheaper elsewhere", "i no longer need it",
         "i clicked buy twice", "it was an accidental purchase", "my plans changed",
         "i picked the wrong model", "delivery takes too long"],
    ),
    _intent(
        "payment_failed",
        ["my payment keeps failing", "the card was declined", "checkout wont accept my card",
         "the transaction got rejected", "charged but no confirmation", "the bank refused it",
         "paypal throws an error", "cant complete the payment"],
        ["i have enough funds", "the page froze at checkout", "i tried three cards",
         "the bank says all is fine", "it keeps spinning", "a security popup appeared",
         "the app crashed while paying", "my limit is not reached"],
    ),
    _intent(
        "damaged_item",
        ["it arrived broken", "the item is damaged", "it came cracked", "there is a tear in it",
         "it is scratched all over", "the box was crushed", "it came dented",
         "ripped along the seam"],
        ["can you send a replacement", "i want a new one", "what can you do about it",
         "please replace it", "i need this sorted", "i am really disappointed",
         "how do i claim for it", "do you cover breakage"],
    ),
    _intent(
        "wrong_item",
        ["you sent the wrong item", "this is not what i ordered",
         "i received someone elses order", "got a different product",
         "the package had the wrong size", "they mixed up my order",
         "an incorrect article came", "it is a completely different style"],
        ["i need the right one", "please swap it", "the label says something else",
         "my neighbour got mine", "the sku doesnt match", "must be a mixup at the warehouse",
         "the invoice lists another product", "i checked the receipt twice"],
    ),
    _intent(
        "promo_code",
        ["my discount code doesnt work", "the voucher wont apply", "promo code is invalid",
         "the coupon was rejected", "where do i enter the offer code",
         "the sale price didnt apply", "the gift card isnt accepted",
         "my loyalty points wont redeem"],
        ["it says expired", "the newsletter promised twenty percent off",
         "the basket total didnt change", "i followed the instructions", "it worked last time",
         "my friend used it fine", "the terms look met", "nothing happens when i press apply"],
    ),
    _intent(
        "account_access",
        ["i cant log in", "reset my password", "locked out of my account",
         "the sign in page fails", "forgot my login details", "my username isnt recognised",
         "verification email never came", "the two factor code doesnt arrive"],
        ["i tried several times", "it says invalid credentials", "i changed phones recently",
         "the reset link expired", "it just reloads", "the captcha keeps failing",
         "i use the same address as always", "it worked yesterday"],
    ),
    _intent(
        "invoice_request",
        ["can i get an invoice", "please send a receipt", "i need a vat invoice",
         "where can i download the bill", "send me proof of purchase", "need a tax document",
         "could you email the statement", "issue a copy of the billing"],
        ["for my company expenses", "my accountant needs it", "for a warranty claim",
         "to claim it back at work", "the app doesnt show it", "for my records",
         "my employer reimburses it", "for the annual tax return"],
    ),
    _intent(
        "product_availability",
        ["is this back in stock", "when will you restock", "do you have it in my size",
         "is it still available", "will more come in", "can i preorder it", "is there any left",
         "notify me when it returns"],
        ["the page says sold out", "it shows unavailable", "only the small is left",
         "i missed the sale", "it vanished from the site", "the store near me is empty",
         "my size cant be selected", "i want it as a gift"],
    ),
    _intent(
        "oos",
        ["whats the weather tomorrow", "tell me a joke", "how do i make pancakes",
         "who won the match last night", "recommend a good film", "whats the capital of peru",
         "how tall is mount everest", "what is the meaning of life"],
        ["just curious", "asking for a friend", "im bored", "random question",
         "my kids want to know", "settle a bet for us", "while i wait", "for fun"],
    ),
)
# fmt: on

INTENTS: tuple[str, ...] = tuple(name for name, _, _ in _GRAMMAR)
IN_SCOPE: tuple[str, ...] = tuple(i for i in INTENTS if i != "oos")
# Slot rows for SlotSampler: intent i's request is row 2*i, its issue row 2*i + 1.
SLOTS: tuple[Slot, ...] = tuple(s for _, req, iss in _GRAMMAR for s in (req, iss))

# Intents a customer can genuinely blur: a message of one may carry the other's issue.
CONFUSABLE: dict[str, str] = {
    "return_item": "refund_status",
    "refund_status": "return_item",
    "damaged_item": "wrong_item",
    "wrong_item": "damaged_item",
    "cancel_order": "change_address",
    "change_address": "track_order",
    "track_order": "cancel_order",
    "payment_failed": "promo_code",
    "promo_code": "payment_failed",
}

# Said when a customer states only one slot: these carry no intent at all.
FILLERS = (
    "i have a problem",
    "quick question",
    "need some help",
    "something is wrong",
    "can someone help me",
    "not happy",
)
GREETINGS = (
    "",
    "",
    "hi",
    "hello",
    "hey",
    "good morning",
    "hi there",
    "hello team",
    "dear support",
    "evening",
)
CLOSINGS = (
    "",
    "",
    "thanks",
    "thank you",
    "cheers",
    "asap please",
    "thx",
    "many thanks",
    "regards",
    "please help",
)


def surface_forms() -> dict[str, list[str]]:
    """Every surface form that carries each intent (both slots, all spellings)."""
    return {name: [*req.surfaces(), *iss.surfaces()] for name, req, iss in _GRAMMAR}
