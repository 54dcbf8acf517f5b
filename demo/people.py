"""Generators for the demo's people and things: names, phone numbers, plates, Persian address text."""

from __future__ import annotations

import random

from core.text import persian_digits
from crm.phones import PhoneNumberError, to_e164

# (Persian, Latin) pairs, so subscribers who chose English see their name as they would write it.
MALE_NAMES = [
    ("علی", "Ali"), ("محمد", "Mohammad"), ("حسین", "Hossein"), ("رضا", "Reza"), ("مهدی", "Mehdi"),
    ("امیر", "Amir"), ("حمید", "Hamid"), ("سعید", "Saeed"), ("مجید", "Majid"), ("مسعود", "Masoud"),
    ("بهروز", "Behrouz"), ("فرهاد", "Farhad"), ("کامران", "Kamran"), ("پیمان", "Peyman"),
    ("بابک", "Babak"), ("آرش", "Arash"), ("داریوش", "Dariush"), ("سیاوش", "Siavash"),
    ("کیوان", "Keyvan"), ("مهران", "Mehran"), ("نیما", "Nima"), ("پویا", "Pouya"), ("سینا", "Sina"),
    ("امید", "Omid"), ("جواد", "Javad"), ("ناصر", "Naser"), ("محسن", "Mohsen"), ("هادی", "Hadi"),
    ("احسان", "Ehsan"), ("میلاد", "Milad"), ("عباس", "Abbas"), ("مرتضی", "Morteza"),
    ("مصطفی", "Mostafa"), ("علیرضا", "Alireza"), ("محمدرضا", "Mohammadreza"), ("فرزاد", "Farzad"),
    ("شهرام", "Shahram"), ("بهزاد", "Behzad"), ("کاوه", "Kaveh"), ("رامین", "Ramin"),
]  # fmt: skip
FEMALE_NAMES = [
    ("مریم", "Maryam"), ("فاطمه", "Fatemeh"), ("زهرا", "Zahra"), ("سارا", "Sara"), ("نرگس", "Narges"),
    ("لیلا", "Leila"), ("مینا", "Mina"), ("شیرین", "Shirin"), ("نازنین", "Nazanin"), ("الهام", "Elham"),
    ("پریسا", "Parisa"), ("نسرین", "Nasrin"), ("فرشته", "Fereshteh"), ("مهسا", "Mahsa"),
    ("سمیرا", "Samira"), ("آزاده", "Azadeh"), ("نگار", "Negar"), ("رویا", "Roya"), ("هانیه", "Haniyeh"),
    ("یاسمن", "Yasaman"), ("ترانه", "Taraneh"), ("مهتاب", "Mahtab"), ("شهلا", "Shahla"),
    ("پروین", "Parvin"), ("سیمین", "Simin"), ("گلناز", "Golnaz"), ("بهاره", "Bahareh"), ("ژاله", "Zhaleh"),
    ("کتایون", "Katayoun"), ("سپیده", "Sepideh"), ("نیلوفر", "Niloufar"), ("الناز", "Elnaz"),
    ("فریبا", "Fariba"), ("معصومه", "Masoumeh"), ("طاهره", "Tahereh"), ("شیما", "Shima"),
]  # fmt: skip
SURNAMES = [
    ("احمدی", "Ahmadi"), ("محمدی", "Mohammadi"), ("حسینی", "Hosseini"), ("رضایی", "Rezaei"),
    ("کریمی", "Karimi"), ("موسوی", "Mousavi"), ("جعفری", "Jafari"), ("صادقی", "Sadeghi"),
    ("رحیمی", "Rahimi"), ("حیدری", "Heidari"), ("کاظمی", "Kazemi"), ("نوری", "Nouri"),
    ("قاسمی", "Ghasemi"), ("ابراهیمی", "Ebrahimi"), ("اکبری", "Akbari"), ("عباسی", "Abbasi"),
    ("تهرانی", "Tehrani"), ("شریفی", "Sharifi"), ("مرادی", "Moradi"), ("سلیمانی", "Soleimani"),
    ("نجفی", "Najafi"), ("یزدانی", "Yazdani"), ("فرهادی", "Farhadi"), ("افشار", "Afshar"),
    ("بهرامی", "Bahrami"), ("زمانی", "Zamani"), ("کرمانی", "Kermani"), ("شیرازی", "Shirazi"),
    ("اصفهانی", "Esfahani"), ("طباطبایی", "Tabatabaei"), ("میرزایی", "Mirzaei"), ("خسروی", "Khosravi"),
    ("پورمحمدی", "Pourmohammadi"), ("نیک‌نام", "Niknam"), ("امینی", "Amini"), ("باقری", "Bagheri"),
    ("هاشمی", "Hashemi"), ("یوسفی", "Yousefi"), ("ملکی", "Maleki"), ("جهانگیری", "Jahangiri"),
    ("توکلی", "Tavakoli"), ("دهقان", "Dehghan"), ("رستمی", "Rostami"), ("سبحانی", "Sobhani"),
    ("عسگری", "Asgari"), ("فلاحی", "Fallahi"), ("قربانی", "Ghorbani"), ("کیانی", "Kiani"),
    ("منصوری", "Mansouri"), ("نادری", "Naderi"), ("وحیدی", "Vahidi"), ("شکوهی", "Shokouhi"),
    ("آقایی", "Aghaei"), ("اسدی", "Asadi"), ("پاکزاد", "Pakzad"), ("خلیلی", "Khalili"),
    ("درویشی", "Darvishi"), ("صالحی", "Salehi"), ("غفاری", "Ghaffari"), ("مختاری", "Mokhtari"),
]  # fmt: skip

STREETS = [
    "ولیعصر", "شریعتی", "انقلاب", "آزادی", "مطهری", "بهشتی", "طالقانی", "کریمخان زند", "مفتح",
    "پاسداران", "دولت", "ظفر", "میرداماد", "فرشته", "ستارخان", "جمهوری", "کارگر شمالی", "فاطمی",
    "گاندی", "وزرا", "سهروردی شمالی", "پیروزی", "دماوند", "هفده شهریور", "نیاوران", "فلسطین",
    "حافظ", "سعدی", "مولوی", "قزوین", "کاشانی", "پونک", "اشرفی اصفهانی", "جلال آل احمد", "یوسف‌آباد",
]  # fmt: skip
ALLEYS = [
    "گلستان", "بهار", "نسترن", "یاس", "شقایق", "لاله", "مهر", "صفا", "اقاقیا", "نرگس", "سرو",
    "چنار", "بوستان", "ارغوان", "میخک", "پروانه", "دوم", "سوم", "هفتم", "دوازدهم", "شهید رضایی",
]  # fmt: skip
ADDRESS_LABELS = ["محل کار", "مطب دکتر", "خانهٔ مادر", "باشگاه", "مدرسهٔ بچه‌ها", "دانشگاه", "آرایشگاه"]
LANDMARKS = [
    "روبه‌روی نانوایی سنگکی", "کنار داروخانه", "جنب بانک ملت", "نبش کوچه، سوپرمارکت", "پشت مسجد محل",
    "روبه‌روی پارک", "کنار کلانتری", "جنب آموزشگاه زبان", "روبه‌روی میوه‌فروشی",
]  # fmt: skip
DRIVER_NOTES = [
    "لطفاً بوق نزنید، تماس بگیرید", "کوچه یک‌طرفه است، از خیابان بالایی بیایید", "ورودی از در پشتی است",
    "مسافر سالمند است، چند دقیقه صبر کنید", "جلوی در پارکینگ منتظر می‌مانم", "زنگ خراب است، تماس بگیرید",
]  # fmt: skip

# Mobile prefixes of Hamrah-e Aval (91x, 990-991), Irancell (93x, 901-905) and RighTel (92x).
MOBILE_PREFIXES = ["910", "912", "913", "915", "919", "990", "991", "930", "933", "935", "936",
                   "937", "938", "939", "901", "902", "903", "905", "920", "921"]  # fmt: skip
# Plate letters seen on private cars; taxis' yellow "ت" plates are not what a radio-taxi office runs.
PLATE_LETTERS = ["ب", "ج", "د", "س", "ص", "ط", "ق", "ل", "م", "ن", "و", "ه", "ی"]
TEHRAN_PLATE_CODES = [10, 11, 20, 22, 33, 44, 55, 66, 77, 88, 99]


class NameMaker:
    """Believable, unique Persian full names (or their Latin spelling)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._used: set[tuple[str, str]] = set()

    def full_name(self, latin: bool = False, female: bool | None = None) -> str:
        """A first name and surname no earlier call returned."""
        while True:
            is_female = self.rng.random() < 0.5 if female is None else female
            first = self.rng.choice(FEMALE_NAMES if is_female else MALE_NAMES)
            last = self.rng.choice(SURNAMES)
            if (first[0], last[0]) not in self._used:
                self._used.add((first[0], last[0]))
                return f"{first[1]} {last[1]}" if latin else f"{first[0]} {last[0]}"


class PhoneMaker:
    """Unique Iranian numbers in E.164, each checked by the same parser the desk uses."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._used: set[str] = set()

    def _unique(self, national: str) -> str | None:
        try:
            e164 = to_e164(national, "IR")
        except PhoneNumberError:
            return None
        if e164 in self._used:
            return None
        self._used.add(e164)
        return e164

    def mobile(self) -> str:
        """A new mobile number, e.g. +989121234567."""
        while True:
            national = f"0{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**7):07d}"
            if e164 := self._unique(national):
                return e164

    def landline(self) -> str:
        """A new Tehran landline, e.g. +982122334455."""
        while True:
            # Tehran subscriber numbers are eight digits and start with 2..8.
            national = f"021{self.rng.randint(2, 8)}{self.rng.randrange(10**7):07d}"
            if e164 := self._unique(national):
                return e164


class PlateMaker:
    """Unique Iranian plates written as people read them: ۱۲ ب ۳۴۵ ایران ۶۷."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._used: set[str] = set()

    def plate(self) -> str:
        """A new plate."""
        while True:
            two = self.rng.randint(11, 99)
            three = self.rng.randint(111, 999)
            region = self.rng.choice(TEHRAN_PLATE_CODES)
            text = persian_digits(f"{two} {self.rng.choice(PLATE_LETTERS)} {three} ایران {region}")
            if text not in self._used:
                self._used.add(text)
                return text


def address_text(rng: random.Random) -> str:
    """A street address in Persian: خیابان …، کوچه …، پلاک …."""
    return persian_digits(f"خیابان {rng.choice(STREETS)}، کوچه {rng.choice(ALLEYS)}، پلاک {rng.randint(1, 140)}")


def unit_text(rng: random.Random, surname: str) -> str:
    """Unit, floor or bell, as callers give them."""
    options = [
        f"طبقه {rng.randint(1, 9)}، واحد {rng.randint(1, 30)}",
        f"واحد {rng.randint(1, 40)}",
        "طبقه همکف",
        f"زنگ {surname}",
        f"طبقه {rng.randint(2, 6)}، زنگ دوم",
    ]
    return persian_digits(rng.choice(options))


def licence_number(rng: random.Random) -> str:
    """A ten-digit driving licence number, as printed on Iranian licences."""
    return f"{rng.randint(1, 9)}{rng.randrange(10**9):09d}"
