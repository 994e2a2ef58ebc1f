from django import forms


class BuyForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=1000, initial=1)


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100)
    category = forms.SlugField(required=False, max_length=64)
