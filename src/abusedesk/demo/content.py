"""Words the simulated provider is made of: names, domains, subjects, bodies, complaints.

Brands are fictional, domains end in ``.example`` or ``.test``, phone numbers come from
ranges reserved for fiction, so nothing generated here names a real party.
"""

import random
import re

FIRST_WORDS = (
    "Northwind", "Bluebird", "Cedar", "Harbor", "Maple", "Summit", "Juniper", "Lakeside",
    "Copper", "Meadow", "Granite", "Willow", "Orchard", "Beacon", "Riverbend", "Silverline",
    "Foxglove", "Ironwood", "Sunpeak", "Tidewater", "Alder", "Brightwater", "Kestrel", "Oakridge",
)  # fmt: skip
SECOND_WORDS = (
    "Outfitters", "Analytics", "Bakery", "Dental", "Travel", "Books", "Fitness", "Logistics",
    "Studios", "Insurance", "Learning", "Pet Supply", "Coffee", "Software", "Realty", "Health",
    "Games", "Florist", "Motors", "Labs", "Tickets", "Clinic", "Payroll", "Events",
)  # fmt: skip
COMPANY_SUFFIXES = ("", " Inc.", " LLC", " Ltd", " GmbH", " Co.", " S.A.")
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA", "AU", "NL", "BR", "IN", "JP", "ES")

SNOWSHOE_WORDS = (
    "deal", "offer", "promo", "save", "bonus", "prize", "smart", "best", "top", "daily",
    "mega", "club", "hub", "zone", "direct", "now", "value", "perks", "gift", "lucky",
)  # fmt: skip

# Fictional brands (the classic sample-company names) that phishing kits imitate.
PHISHED_BRANDS = (
    ("Woodgrove Bank", "woodgrovebank"),
    ("Contoso Pay", "contosopay"),
    ("Fabrikam Cloud", "fabrikamcloud"),
    ("Tailspin Airlines", "tailspin"),
    ("Litware Mail", "litwaremail"),
)
PHISHING_PATTERNS = (
    "{slug}-secure-login",
    "secure-{slug}-online",
    "{slug}-account-verify",
    "login-{slug}-support",
    "{slug}-alerts-center",
)

RING_BRANDS = ("Apex Growth", "Vertex Reach", "Pinnacle Leads", "Zenith Outreach")
RING_SUFFIXES = (" Media LLC", " Marketing Ltd", " Digital Inc.", " Partners", " Group")

FIRST_NAMES = (
    "alex", "sam", "jordan", "taylor", "morgan", "casey", "jamie", "robin", "kim", "lee",
    "pat", "chris", "dana", "drew", "erin", "francis", "gale", "harper", "jo", "kai",
)  # fmt: skip
LAST_NAMES = (
    "smith", "garcia", "nguyen", "mueller", "rossi", "kowalski", "okafor", "tanaka",
    "silva", "johansson", "dubois", "haddad", "kumar", "oconnor", "novak", "lopez",
)  # fmt: skip

NEWSLETTER_SUBJECTS = (
    "{brand} weekly: what's new this week",
    "Spring sale: 20% off everything at {brand}",
    "Your {brand} membership renews soon",
    "New arrivals at {brand}",
    "{brand}: tips to get more out of your account",
)
TRANSACTIONAL_SUBJECTS = (
    "Your {brand} receipt #{number}",
    "Your order #{number} has shipped",
    "Reset your {brand} password",
    "Reminder: your appointment is tomorrow",
    "Your {brand} invoice #{number} is ready",
)
SPAM_SUBJECTS = (
    "You have been selected for a $500 gift card",
    "Lose 10 lbs in 10 days, doctors are stunned",
    "Final notice: claim your reward before midnight",
    "Cheap meds shipped overnight, no prescription",
    "Work from home and earn $3,000 a week",
    "Exclusive opportunity: 40% monthly returns",
    "Your extended car warranty is about to expire",
    "Congratulations! You are our lucky winner",
)
PHISHING_SUBJECTS = (
    "Unusual sign-in activity on your {brand} account",
    "Action required: verify your {brand} account",
    "Your {brand} account has been suspended",
    "{brand}: payment declined, update your details",
    "Security alert: confirm your {brand} password",
)
MAILBOX_SUBJECTS = (
    "Re: meeting notes",
    "Quote for the new project",
    "Re: invoice question",
    "Updated schedule for next week",
    "Lunch on Friday?",
)
MAILBOX_SPAM_SUBJECTS = (
    "Invoice #{number} overdue - see link",
    "Shared document: payment details",
    "RE: outstanding payment",
    "Please review the attached contract",
    "Urgent wire transfer request",
)

SPAM_LINES = (
    "Act now, this offer expires in 24 hours!",
    "Thousands of people already claimed theirs. Don't miss out.",
    "No credit card needed. 100% free. Limited stock.",
    "You were chosen from millions of customers.",
    "Our secret formula works while you sleep.",
)

COMPLAINT_LINES = (
    "I never signed up for this. Make it stop.",
    "This is the fifth one this week from your customer.",
    "Please shut this sender down.",
    "I have reported this to my mail provider as well.",
    "How did they even get my address?",
    "The unsubscribe link does not work.",
    "I do not do business with this company.",
    "Spam. Again. Do something about it.",
)
PHISHING_COMPLAINT_LINES = (
    "This is a phishing email pretending to be my bank.",
    "They are trying to steal passwords with a fake login page.",
    "The link goes to a page that asks for my credentials.",
    "Please take this down before someone falls for it.",
)
COMPLAINT_SUBJECTS = (
    "Spam from your network",
    "STOP SPAMMING ME",
    "Abuse report: unsolicited email",
    "Fwd: {subject}",
    "complaint about your customer",
    "unwanted email",
)
PHISHING_COMPLAINT_SUBJECTS = (
    "Phishing email sent through your service",
    "Fwd: {subject} (phishing)",
    "Fake login page / credential phishing",
    "Report: phish impersonating a bank",
)

SMS_OTP_TEXTS = (
    "Your verification code is {code}. Do not share it with anyone.",
    "{code} is your one-time passcode.",
    "Use {code} to confirm your sign-up.",
)
SMS_SPAM_TEXTS = (
    "WINNER! You have won a $1000 gift card. Claim now: {url}",
    "Your parcel is held at customs. Pay the release fee at {url}",
    "URGENT: your bank account is locked. Verify at {url}",
    "You have an unclaimed tax refund. Submit your details: {url}",
)
SMS_LEGIT_TEXTS = (
    "{brand}: {code} is your login code. It expires in 10 minutes.",
    "{brand}: your appointment is confirmed for tomorrow at 10:00. Reply STOP to opt out.",
)
PUSH_LEGIT_TEXTS = (
    "Your order is on its way.",
    "New this week: 20% off for members.",
    "Reminder: your appointment is tomorrow at 10:00.",
)
PUSH_SPAM_TITLES = ("You won!", "Claim your reward", "Account alert", "Last chance")

# Where pumped traffic goes: high-cost destinations, by country calling code.
PREMIUM_DESTINATIONS = (("882", "XT"), ("881", "XS"), ("371", "LV"), ("220", "GM"), ("960", "MV"))
NORMAL_DESTINATIONS = (("1", "US"), ("44", "GB"))


def slug(text: str) -> str:
    """Return *text* as a lowercase DNS label."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def token(rng: random.Random, length: int = 12) -> str:
    """Return a random lowercase alphanumeric token."""
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=length))


def person(rng: random.Random) -> tuple[str, str]:
    """Return a random (display name, local part) for a person."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    style = rng.randrange(3)
    local = (
        f"{first}.{last}"
        if style == 0
        else f"{first}{rng.randrange(10, 99)}"
        if style == 1
        else f"{first[0]}{last}"
    )
    return f"{first.title()} {last.title()}", local


def fictional_number(rng: random.Random, *, uk: bool = False) -> str:
    """Return an E.164 number from a range reserved for fiction (NANP 555-01xx, UK 7700 900xxx)."""
    if uk:
        return f"+447700900{rng.randrange(1000):03d}"
    area = rng.choice(("202", "212", "312", "415", "617", "702", "206", "305"))
    return f"+1{area}55501{rng.randrange(100):02d}"


def masked_destination(rng: random.Random, calling_code: str) -> str:
    """Return a destination number with its middle digits masked, as carriers report them."""
    return f"+{calling_code}{rng.randrange(10, 99)}XXXX{rng.randrange(100, 999)}"
